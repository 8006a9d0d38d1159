// The Upload page's file slot (st.components.v2): the file stays in the browser.
// 1. A file is chosen: send its name, size, first bytes (base64) and row count to Python ("picked"). A gzip
//    file (.csv.gz, told by its magic bytes) is sent as it is; its rows are counted over the decompressed
//    stream (DecompressionStream: bounded memory), and a stream that fails is reported as "unreadable".
// 2. Python answers with presigned part URLs (data.plan): PUT each slice of the file, with a progress bar,
//    then tell Python ("uploaded", or "failed" with the reason).
// 3. Another file chosen meanwhile: stop sending the old one (Python aborts its multipart upload).

const B64_CHUNK = 0x8000;

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += B64_CHUNK) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + B64_CHUNK));
  }
  return btoa(text);
}

function isGzip(head) {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

// Data rows: line feeds outside double quotes (RFC 4180, doubled quotes toggle twice), minus the header.
async function countRows(file, gzip) {
  const stream = gzip ? file.stream().pipeThrough(new DecompressionStream("gzip")) : file.stream();
  const reader = stream.getReader();
  let records = 0;
  let quoted = false;
  let last = 10;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (let i = 0; i < value.length; i++) {
      const byte = value[i];
      if (byte === 34) quoted = !quoted;
      else if (byte === 10 && !quoted) records++;
    }
    if (value.length) last = value[value.length - 1];
  }
  if (last !== 10) records++; // a last line without a line feed
  return Math.max(records - 1, 0);
}

function putPart(root, url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    root.request = request; // so that picking another file can cancel it
    request.open("PUT", url);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () =>
      request.status >= 200 && request.status < 300
        ? resolve()
        : reject(new Error(`S3 answered ${request.status}: ${request.responseText.slice(0, 300)}`));
    request.onerror = () => reject(new Error("the network request to S3 failed (CORS or connection)"));
    request.onabort = () => reject(new Error("cancelled"));
    request.send(blob);
  });
}

async function upload(root, file, plan, setTriggerValue) {
  const bar = root.querySelector("progress");
  const status = root.querySelector(".status");
  bar.hidden = false;
  bar.max = file.size || 1;
  let sent = 0;
  try {
    for (let i = 0; i < plan.urls.length; i++) {
      if (root.file !== file) return; // another file was chosen between two parts
      const part = file.slice(i * plan.part_size, (i + 1) * plan.part_size);
      await putPart(root, plan.urls[i], part, (loaded) => {
        bar.value = sent + loaded;
        status.textContent = `Uploading part ${i + 1} of ${plan.urls.length}…`;
      });
      sent += part.size;
    }
    status.textContent = "Uploaded; completing…";
    setTriggerValue("uploaded", { upload_id: plan.upload_id, bytes: sent });
  } catch (error) {
    if (root.file !== file) return; // replaced by another file: nothing to report
    status.textContent = `Upload failed: ${error.message}`;
    setTriggerValue("failed", { upload_id: plan.upload_id, error: String(error.message || error) });
  }
}

export default function (component) {
  const { parentElement: root, data, setStateValue, setTriggerValue } = component;
  const input = root.querySelector("input[type=file]");
  const status = root.querySelector(".status");
  input.setAttribute("aria-label", data.label);
  root.querySelector(".label").textContent = data.label;
  input.onchange = async () => {
    const file = input.files[0];
    if (!file) return;
    root.file = file;
    if (root.request) root.request.abort(); // the previous file's upload, if one is running
    root.querySelector("progress").hidden = true;
    status.textContent = `Reading ${file.name}…`;
    const head = new Uint8Array(await file.slice(0, data.head_bytes).arrayBuffer());
    let rows = 0;
    let unreadable = null;
    try {
      rows = await countRows(file, isGzip(head));
    } catch (error) {
      unreadable = String(error.message || error);
    }
    if (root.file !== file) return; // another file was chosen while this one was read
    status.textContent = `${file.name}: ${file.size.toLocaleString()} bytes`;
    setStateValue("picked", {
      name: file.name,
      size: file.size,
      last_modified: file.lastModified,
      head: toBase64(head),
      rows,
      unreadable,
      token: `${file.name}:${file.size}:${file.lastModified}:${Date.now()}`,
    });
  };
  const plan = data.plan;
  if (plan && root.file && root.started !== plan.upload_id) {
    root.started = plan.upload_id; // a rerun redraws the component: upload once per plan
    upload(root, root.file, plan, setTriggerValue);
  }
}
