// The hover images of a probe, as one sprite sheet: [4-byte little-endian header length][JSON header][PNG].
// The header says {key, cell, cols, n}: image i is the cell (i % cols, i // cols) of side `cell` pixels.
// It registers window.__explorerSprites[key] for the linked views (linked_view.js) and draws nothing.
export default function (component) {
  const { data } = component;
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const len = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len)));
  window.__explorerSprites = window.__explorerSprites || {};
  const known = window.__explorerSprites[head.key];
  if (known) return;
  const entry = { ...head, image: null };
  window.__explorerSprites[head.key] = entry;
  const blob = new Blob([bytes.subarray(4 + len)], { type: "image/png" });
  createImageBitmap(blob).then((img) => { entry.image = img; });
}
