// The injected camera (tests/e2e/light_camera.py): navigator.mediaDevices.getUserMedia
// answers with a canvas stream whose frames the test renders in Python.
//
// Every tick (config.fps) reads what the page shows at that moment (the light
// overlay's pixels and opacity, the asked action) and asks the exposed binding to
// render it; the
// frame is drawn `delay` ticks later, as a webcam delivers each exposure a few frames
// late. The ticks keep their cadence while renders are in flight, so the camera's
// latency is the delay, not Python's answer time; a render that arrives after its
// due tick is drawn when it arrives (late), and while two are in flight a tick
// renders nothing (dropped), as a starved camera drops frames: a longer queue of
// requests would only add their wait to the camera's latency.
(() => {
  const config = /*CONFIG*/ { binding: '__veronicaCamera', fps: 25, delay: 2, width: 640, height: 480 };
  const media = navigator.mediaDevices;
  if (!media) return;
  const periodMs = 1000 / config.fps;
  const maxInFlight = 2;

  /**
   * What the light overlay shows: the colour of a pixel outside the oval and the
   * overlay's opacity now (the gentle light fades it in and out: mid-transition
   * this is the animated value), or null when it shows nothing.
   */
  const screenLight = () => {
    const overlay = document.querySelector('[data-testid="light-overlay"]');
    if (!(overlay instanceof HTMLCanvasElement) || overlay.hidden || !overlay.width) return null;
    const opacity = Number(getComputedStyle(overlay).opacity);
    if (!(opacity > 0)) return null;
    const context = overlay.getContext('2d');
    if (!context) return null;
    const [r, g, b, a] = context.getImageData(0, 0, 1, 1).data;
    return a > 0 ? { rgb: [r, g, b], opacity } : null;
  };

  const stats = { ticks: 0, late: 0, dropped: 0 };
  const pageState = () => {
    const data = document.body ? document.body.dataset : {};
    const light = screenLight();
    return {
      t: performance.now() / 1000,
      light: light ? light.rgb : null,
      opacity: light ? light.opacity : 0,
      declared: data.light ?? null,
      action: data.action ?? null,
      stats: { ...stats },
    };
  };

  const decode = async (jpeg) => {
    const image = new Image();
    image.src = `data:image/jpeg;base64,${jpeg}`;
    await image.decode();
    return image;
  };

  media.getUserMedia = async (constraints) => {
    if (!constraints || !constraints.video) throw new DOMException('no video', 'NotFoundError');
    const canvas = document.createElement('canvas');
    canvas.width = config.width;
    canvas.height = config.height;
    const context = canvas.getContext('2d');
    const stream = canvas.captureStream(0);
    const [track] = stream.getVideoTracks();
    const show = (image) => {
      context.drawImage(image, 0, 0, config.width, config.height);
      track.requestFrame();
    };
    // The first frame before the stream is handed over, so the video has its size.
    show(await decode(await window[config.binding](pageState())));

    /** Rendered frames by tick, decoded, waiting for their tick + delay. */
    const ready = new Map();
    let tick = 0;
    let shown = -1;
    let inFlight = 0;
    /** Draw the newest frame that is due and newer than the one shown. */
    const drawDue = () => {
      const due = tick - 1 - config.delay;
      let best = -1;
      for (const i of ready.keys()) if (i <= due && i > best) best = i;
      if (best <= shown) return;
      show(ready.get(best));
      for (const i of [...ready.keys()]) if (i <= best) ready.delete(i);
      shown = best;
    };
    let due = performance.now();
    const step = () => {
      if (track.readyState === 'ended') return;
      const index = tick++;
      stats.ticks += 1;
      if (inFlight < maxInFlight) {
        inFlight += 1;
        window[config.binding](pageState())
          .then(decode)
          .then((image) => {
            inFlight -= 1;
            if (index <= tick - 1 - config.delay) stats.late += 1;
            ready.set(index, image);
            drawDue();
          })
          .catch(() => {
            inFlight -= 1; // the context is closing: the binding is gone
          });
      } else {
        stats.dropped += 1;
      }
      drawDue();
      const now = performance.now();
      // Keep the cadence; after a stall start afresh rather than burst to catch up.
      due = due + periodMs < now ? now : due + periodMs;
      setTimeout(step, Math.max(0, due - now));
    };
    due += periodMs;
    setTimeout(step, periodMs);
    return stream;
  };
})();
