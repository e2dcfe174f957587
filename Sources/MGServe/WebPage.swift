/// The page `GET /` serves (one file, no outside resources, works offline): pick or drop an image, draw boxes on
/// it, and chat about it through `POST /v1/chat/completions`, the answer streamed as it is generated (Stop aborts
/// it); shows the boxes the answer used, llama.cpp's timings, `/health` and the model id.
enum WebPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>mgllava</title>
        <style>
        :root { --fg: #1d2330; --muted: #667085; --line: #d0d5dd; --bg: #f6f7f9; --accent: #2563eb;
                --user: #e8effd; --bot: #f2f4f7; --bad: #b42318; --drawn: #f79009; --used: #12b76a; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; gap: 1.2rem; align-items: baseline; padding: .6rem 1rem; background: #fff;
                 border-bottom: 1px solid var(--line); }
        header h1 { font-size: 1.1rem; margin: 0; }
        header span { font-size: .85rem; color: var(--muted); }
        #health::before { content: "● "; color: var(--muted); }
        #health.ok::before { color: var(--used); }
        #health.loading::before { color: var(--drawn); }
        #health.bad::before { color: var(--bad); }
        main { display: grid; grid-template-columns: minmax(280px, 1fr) minmax(320px, 1.2fr); gap: 1rem;
               padding: 1rem; max-width: 1200px; margin: auto; }
        @media (max-width: 800px) { main { grid-template-columns: 1fr; } }
        section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .8rem;
                  display: flex; flex-direction: column; gap: .6rem; min-width: 0; }
        #drop { border: 2px dashed var(--line); border-radius: 6px; padding: .5rem; text-align: center;
                color: var(--muted); min-height: 10rem; display: flex; align-items: center; justify-content: center; }
        #drop.over { border-color: var(--accent); background: #eef4ff; }
        #canvas { display: none; max-width: 100%; cursor: crosshair; touch-action: none; }
        #drop.has-image #canvas { display: block; }
        #drop.has-image .hint { display: none; }
        .row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
        .row.end { justify-content: flex-end; }
        #boxinfo { font-size: .85rem; color: var(--muted); flex: 1; }
        #answer { min-height: 12rem; max-height: 60vh; overflow-y: auto; display: flex; flex-direction: column;
                  gap: .5rem; }
        .msg { max-width: 90%; padding: .5rem .7rem; border-radius: 8px; white-space: pre-wrap;
               overflow-wrap: anywhere; }
        .msg.user { align-self: flex-end; background: var(--user); }
        .msg.bot { align-self: flex-start; background: var(--bot); }
        .assistant:empty::after { content: "…"; color: var(--muted); }
        .meta { font-size: .75rem; color: var(--muted); margin-top: .3rem; }
        .meta:empty { display: none; }
        #error { color: var(--bad); background: #fef3f2; border: 1px solid #fecdca; border-radius: 6px;
                 padding: .4rem .6rem; white-space: pre-wrap; }
        #error:empty { display: none; }
        textarea, input { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 6px; }
        textarea { width: 100%; resize: vertical; }
        input[type=number] { width: 6rem; }
        button { font: inherit; padding: .35rem .9rem; border: 1px solid var(--line); border-radius: 6px;
                 background: #fff; cursor: pointer; }
        button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
        button:disabled { opacity: .5; cursor: default; }
        fieldset { border: 1px solid var(--line); border-radius: 6px; font-size: .85rem; }
        label { display: inline-flex; gap: .3rem; align-items: center; }
        </style>
        </head>
        <body>
        <header>
          <h1>mgllava</h1>
          <span id="model">model: …</span>
          <span id="health">checking the server…</span>
        </header>
        <main>
          <section>
            <div id="drop">
              <p class="hint">Drop an image here, or choose a file below.</p>
              <canvas id="canvas" title="Drag to draw a box"></canvas>
            </div>
            <div class="row">
              <input type="file" id="file" accept="image/*">
              <button id="clearboxes" title="Remove the boxes you drew">Clear boxes</button>
            </div>
            <div id="boxinfo">Drag on the image to draw boxes (sent with the next question).</div>
          </section>
          <section>
            <div id="answer" aria-live="polite"></div>
            <div id="error" role="alert"></div>
            <textarea id="prompt" rows="3" placeholder="Ask about the image (Enter sends, Shift+Enter adds a line)"></textarea>
            <div class="row end">
              <button id="newchat" title="Forget the conversation (the image and boxes stay)">New chat</button>
              <button id="stop" disabled>Stop</button>
              <button id="send" class="primary">Send</button>
            </div>
            <fieldset class="row">
              <legend>Settings</legend>
              <label>max_tokens <input id="max_tokens" type="number" min="1" value="256"></label>
              <label>temperature <input id="temperature" type="number" min="0" step="0.1" value="0"></label>
              <label>API key <input id="apikey" type="password" autocomplete="off" placeholder="(none)"></label>
            </fieldset>
          </section>
        </main>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        const KEY_STORAGE = "mgllava.apiKey";
        const state = {
          image: null,      // {url: data URL, img: HTMLImageElement}
          boxes: [],        // drawn by the user, xyxy in original image pixels
          shown: null,      // {source, boxes} the last answer used
          drag: null,       // {start: [x, y], box} while drawing
          history: [],      // OpenAI messages of the finished turns
          controller: null, // AbortController of the answer being streamed
          chat: 0,          // bumped by New chat, so a late answer of the old chat is dropped
          modelId: null,
        };

        // ---- server status
        async function errorMessage(response) {
          try {
            const body = await response.json();
            if (body && body.error && body.error.message) return body.error.message;
          } catch (_) { /* not JSON */ }
          return `HTTP ${response.status} ${response.statusText}`;
        }

        function authHeaders() {
          const key = $("apikey").value.trim();
          return key ? { Authorization: "Bearer " + key } : {};
        }

        function setHealth(kind, text) {
          $("health").className = kind;
          $("health").textContent = text;
        }

        async function pollHealth() {
          let next = 2000;
          try {
            const r = await fetch("/health", { cache: "no-store" });
            if (r.ok) {
              setHealth("ok", "ready");
              next = 15000;
              if (!state.modelId) loadModel();
            } else if (r.status === 503) {
              setHealth("loading", "loading the model…");
            } else {
              setHealth("bad", await errorMessage(r));
            }
          } catch (_) {
            setHealth("bad", "the server is unreachable");
          }
          setTimeout(pollHealth, next);
        }

        async function loadModel() {
          try {
            const r = await fetch("/v1/models", { headers: authHeaders() });
            if (!r.ok) { $("model").textContent = "model: " + (r.status === 401 ? "(needs the API key)" : "?"); return; }
            const body = await r.json();
            state.modelId = body.data && body.data[0] ? body.data[0].id : null;
            $("model").textContent = "model: " + (state.modelId || "?");
          } catch (_) { /* the health poll reports it */ }
        }

        // ---- the image and its boxes
        function loadFile(file) {
          if (!file) return;
          if (file.type && !file.type.startsWith("image/")) { showError(`${file.name}: not an image`); return; }
          const reader = new FileReader();
          reader.onload = () => {
            const img = new Image();
            img.onload = () => {
              state.image = { url: reader.result, img };
              state.boxes = [];
              newChat(); // the image goes in the first message: a new image starts a new conversation
              $("drop").classList.add("has-image");
              draw();
            };
            img.onerror = () => showError(`${file.name}: the browser cannot decode this image`);
            img.src = reader.result;
          };
          reader.readAsDataURL(file);
        }

        function draw() {
          const canvas = $("canvas"), img = state.image && state.image.img;
          if (!img) return;
          const w = img.naturalWidth, h = img.naturalHeight;
          const scale = Math.min(1, ($("drop").clientWidth - 20) / w, (window.innerHeight * 0.6) / h);
          canvas.width = Math.max(1, Math.round(w * scale));
          canvas.height = Math.max(1, Math.round(h * scale));
          const g = canvas.getContext("2d");
          g.drawImage(img, 0, 0, canvas.width, canvas.height);
          const rect = ([x1, y1, x2, y2], color, dash) => {
            g.save();
            g.strokeStyle = color;
            g.lineWidth = 2;
            g.setLineDash(dash);
            g.strokeRect(x1 * scale, y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale);
            g.restore();
          };
          if (state.shown) state.shown.boxes.forEach((b) => rect(b, "#12b76a", [6, 4]));
          state.boxes.forEach((b) => rect(b, "#f79009", []));
          if (state.drag && state.drag.box) rect(state.drag.box, "#f79009", [3, 3]);
        }

        function updateBoxInfo() {
          const s = state.shown, n = state.boxes.length;
          let text;
          if (s) {
            const count = s.boxes.length;
            text = s.source === "none" ? "no boxes (the dummy box)" : `boxes: ${s.source} (${count})`;
          } else if (n) {
            text = `${n} box${n > 1 ? "es" : ""} drawn (sent with the next question).`;
          } else {
            text = "Drag on the image to draw boxes (sent with the next question).";
          }
          $("boxinfo").textContent = text;
        }

        function imagePoint(event) {
          const r = $("canvas").getBoundingClientRect(), img = state.image.img;
          const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
          return [clamp(((event.clientX - r.left) / r.width) * img.naturalWidth, img.naturalWidth),
                  clamp(((event.clientY - r.top) / r.height) * img.naturalHeight, img.naturalHeight)];
        }

        function setUpCanvas() {
          const canvas = $("canvas");
          canvas.addEventListener("pointerdown", (e) => {
            if (!state.image) return;
            canvas.setPointerCapture(e.pointerId);
            state.drag = { start: imagePoint(e), box: null };
          });
          canvas.addEventListener("pointermove", (e) => {
            if (!state.drag) return;
            const [ax, ay] = state.drag.start, [bx, by] = imagePoint(e);
            state.drag.box = [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
            draw();
          });
          canvas.addEventListener("pointerup", () => {
            const box = state.drag && state.drag.box;
            state.drag = null;
            if (box && box[2] - box[0] >= 2 && box[3] - box[1] >= 2) {
              state.boxes.push(box.map(Math.round));
              state.shown = null; // the last answer's boxes no longer say what the next question sends
            }
            updateBoxInfo();
            draw();
          });
          canvas.addEventListener("pointercancel", () => { state.drag = null; draw(); });
        }

        function setUpDrop() {
          const drop = $("drop");
          for (const name of ["dragover", "drop"]) window.addEventListener(name, (e) => e.preventDefault());
          drop.addEventListener("dragover", () => drop.classList.add("over"));
          drop.addEventListener("dragleave", () => drop.classList.remove("over"));
          drop.addEventListener("drop", (e) => {
            drop.classList.remove("over");
            loadFile(e.dataTransfer.files[0]);
          });
          $("file").addEventListener("change", (e) => loadFile(e.target.files[0]));
        }

        // ---- the conversation
        function showError(message) { $("error").textContent = message || ""; }

        function addMessage(kind, text) {
          const el = document.createElement("div");
          el.className = "msg " + kind;
          el.textContent = text;
          $("answer").appendChild(el);
          return el;
        }

        function addAssistant() {
          const bubble = addMessage("bot", "");
          const text = document.createElement("div"), meta = document.createElement("div");
          text.className = "assistant";
          meta.className = "meta";
          bubble.append(text, meta);
          return { bubble, text, meta };
        }

        function scrollDown() { $("answer").scrollTop = $("answer").scrollHeight; }

        function setBusy(busy) {
          $("send").disabled = busy;
          $("stop").disabled = !busy;
        }

        function describeTimings(t, finishReason) {
          if (!t) return "";
          const rate = (v) => (Number.isFinite(v) ? v.toFixed(1) : "?");
          let text = `prompt ${t.prompt_n} tokens, ${rate(t.prompt_per_second)} t/s · ` +
                     `answer ${t.predicted_n} tokens, ${rate(t.predicted_per_second)} t/s`;
          if (finishReason === "length") text += " · stopped at max_tokens";
          return text;
        }

        // Reads `data: {json}` events until `data: [DONE]`; calls onText with each content delta and returns
        // what the last chunk carried (timings, boxes, finish_reason).
        async function readEvents(response, onText) {
          const reader = response.body.getReader(), decoder = new TextDecoder();
          const final = {};
          let buffer = "";
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) throw new Error("the stream ended before data: [DONE]");
              buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
              let cut;
              while ((cut = buffer.indexOf("\n\n")) >= 0) {
                const block = buffer.slice(0, cut);
                buffer = buffer.slice(cut + 2);
                const data = block.split("\n").filter((line) => line.startsWith("data:"))
                  .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
                if (!data) continue; // a comment such as ": ping"
                if (data === "[DONE]") return final;
                const chunk = JSON.parse(data);
                if (chunk.error) throw new Error(chunk.error.message || "the server reported an error");
                const choice = chunk.choices && chunk.choices[0];
                if (choice && choice.delta && choice.delta.content) onText(choice.delta.content);
                if (choice && choice.finish_reason) final.finishReason = choice.finish_reason;
                if (chunk.timings) final.timings = chunk.timings;
                if (chunk.boxes) final.boxes = chunk.boxes;
              }
            }
          } finally {
            reader.cancel().catch(() => {});
          }
        }

        async function send() {
          const question = $("prompt").value.trim();
          if (!question || state.controller) return;
          const maxTokens = Number($("max_tokens").value), temperature = Number($("temperature").value);
          if (!Number.isInteger(maxTokens) || maxTokens < 1) { showError("max_tokens: must be an integer ≥ 1"); return; }
          if (!(temperature >= 0)) { showError("temperature: must be a number ≥ 0"); return; }
          showError("");
          const first = state.history.length === 0 && state.image;
          const content = first
            ? [{ type: "image_url", image_url: { url: state.image.url } }, { type: "text", text: question }]
            : question;
          const messages = [...state.history, { role: "user", content }];
          const body = { messages, stream: true, max_tokens: maxTokens, temperature };
          if (state.modelId) body.model = state.modelId;
          if (state.image && state.boxes.length) body.boxes = state.boxes;

          const chat = state.chat;
          const userEl = addMessage("user", question);
          const out = addAssistant();
          $("prompt").value = "";
          scrollDown();
          const controller = new AbortController();
          state.controller = controller;
          setBusy(true);
          let answer = "";
          try {
            const response = await fetch("/v1/chat/completions", {
              method: "POST", body: JSON.stringify(body), signal: controller.signal,
              headers: { "Content-Type": "application/json", ...authHeaders() },
            });
            if (!response.ok) throw new Error(await errorMessage(response));
            const final = await readEvents(response, (piece) => {
              answer += piece;
              out.text.textContent = answer.trimStart();
              scrollDown();
            });
            answer = answer.trim();
            out.text.textContent = answer;
            out.meta.textContent = describeTimings(final.timings, final.finishReason);
            if (state.chat !== chat) return;
            state.history = [...messages, { role: "assistant", content: answer }];
            if (final.boxes && state.image) {
              state.shown = { source: final.boxes.source, boxes: final.boxes.boxes || [] };
              updateBoxInfo();
              draw();
            }
          } catch (error) {
            if (state.chat !== chat) return;
            answer = answer.trim();
            if (error.name === "AbortError" && answer) {
              out.text.textContent = answer;
              out.meta.textContent = "stopped";
              state.history = [...messages, { role: "assistant", content: answer }];
            } else {
              // Nothing usable came back: take the question back, so it can be edited and sent again.
              userEl.remove();
              out.bubble.remove();
              $("prompt").value = question;
              if (error.name !== "AbortError") showError(error.message);
            }
          } finally {
            out.text.dataset.done = "true";
            if (state.controller === controller) {
              state.controller = null;
              setBusy(false);
            }
          }
        }

        function newChat() {
          state.chat += 1;
          if (state.controller) state.controller.abort();
          state.controller = null;
          setBusy(false);
          state.history = [];
          state.shown = null;
          $("answer").replaceChildren();
          showError("");
          updateBoxInfo();
          draw();
        }

        function setUp() {
          setUpCanvas();
          setUpDrop();
          $("send").addEventListener("click", send);
          $("stop").addEventListener("click", () => state.controller && state.controller.abort());
          $("newchat").addEventListener("click", newChat);
          $("clearboxes").addEventListener("click", () => {
            state.boxes = [];
            state.shown = null;
            updateBoxInfo();
            draw();
          });
          $("prompt").addEventListener("keydown", (e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              send();
            }
          });
          $("apikey").value = localStorage.getItem(KEY_STORAGE) || "";
          $("apikey").addEventListener("change", () => {
            const key = $("apikey").value.trim();
            if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
            state.modelId = null;
            loadModel();
          });
          window.addEventListener("resize", draw);
          pollHealth();
        }

        setUp();
        </script>
        </body>
        </html>
        """#
}
