// Arrow keys for a playing deck: Right / Page Down / Space = next slide, Left / Page Up = previous.
// One listener per page (kept on window); keys typed into a field, a select or an editable element are left alone.
// It sends the trigger "nav" ("next" | "prev") to Python, which opens the slide (explorer/ui/deck.py).
export default function (component) {
  const { setTriggerValue, parentElement } = component;
  const state = (window.__explorerDeckKeys = window.__explorerDeckKeys || {});
  state.send = setTriggerValue;
  state.lastAt = state.lastAt || 0;
  if (!state.listening) {
    state.listening = true;
    window.addEventListener("keydown", (ev) => {
      if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const t = ev.target;
      const tag = (t && t.tagName) || "";
      if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(tag) || t.getAttribute("role") === "combobox")) return;
      const nav = { ArrowRight: "next", PageDown: "next", " ": "next", ArrowLeft: "prev", PageUp: "prev" }[ev.key];
      if (!nav || !state.send) return;
      const now = Date.now();
      if (now - state.lastAt < 250) return; // a held key: one slide per 250 ms
      state.lastAt = now;
      ev.preventDefault();
      state.send("nav", nav);
    });
  }
  // Streamlit's frontend fetches and compiles the code of an element kind the first time a page shows one
  // (the slider, the formula typesetter and its fonts, ...): a slide that is the first to show one waited for
  // it. Once per page load, when the browser is idle, import those modules (the same URLs, so Streamlit's own
  // later import finds them loaded) and fetch those fonts. ``data.preload``: paths relative to Streamlit's entry
  // script, named by explorer/ui/deck.py.
  const preload = (component.data && component.data.preload) || [];
  if (preload.length && !state.preloaded) {
    state.preloaded = true;
    const entry = document.querySelector('script[type="module"][src*="/static/js/index."]');
    const later = window.requestIdleCallback || ((f) => setTimeout(f, 1));
    if (entry) {
      setTimeout(() => later(() => {
        for (const path of preload) {
          const url = new URL(path, entry.src).href;
          if (path.endsWith(".js")) {
            import(url).catch(() => {});
          } else {
            const link = document.createElement("link");
            Object.assign(link, { rel: "preload", as: "font", type: "font/woff2", crossOrigin: "anonymous", href: url });
            document.head.append(link);
          }
        }
      }, { timeout: 3000 }), 1500);
    }
  }
  // a marker for tests (the parent is a shadow root, which has no attributes of its own)
  if (parentElement && !parentElement.querySelector("[data-deck-keys]")) {
    const mark = document.createElement("span");
    mark.setAttribute("data-deck-keys", "on");
    parentElement.append(mark);
  }
}
