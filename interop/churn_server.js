// Node `ws` echo server for the churn benchmark, with the same behaviour and /stats as our
// echo_server: echoes messages; on path /close it closes (1000) after the first echo; GET /stats
// answers JSON with open/closing counts, CLOSING-time quantiles and RSS.
//   NODE_PATH=target/interop/node_modules node interop/churn_server.js PORT
const http = require('http');
const WebSocket = require('ws');

const closingTimes = [];
let open = 0, closing = 0;
const server = http.createServer((req, res) => {
  if (req.url !== '/stats') { res.writeHead(404); res.end(); return; }
  const sorted = [...closingTimes].sort((a, b) => a - b);
  const q = (p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({
    open, closing, closing_time: { count: sorted.length, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: sorted.length ? sorted[sorted.length - 1] : 0 },
    rss_kb: Math.round(process.memoryUsage().rss / 1024),
  }));
});
// Node's default backlog is 511; like our servers, ask for 1024.
const wss = new WebSocket.Server({ server, perMessageDeflate: false });
wss.on('connection', (ws, request) => {
  open += 1;
  let closingSince = null;
  const enterClosing = () => { if (closingSince === null) { closingSince = Date.now(); open -= 1; closing += 1; } };
  const close = ws.close.bind(ws);
  ws.close = (...args) => { enterClosing(); return close(...args); };   // our close or the echo of the peer's
  ws._socket.on('end', enterClosing);                                     // the peer half-closed TCP
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
    if (request.url === '/close') ws.close(1000);
  });
  ws.on('close', () => {
    if (closingSince === null) { open -= 1; } else { closing -= 1; closingTimes.push(Date.now() - closingSince); }
  });
  ws.on('error', () => {});
});
server.listen(Number(process.argv[2] || 9001), '127.0.0.1', 1024, () => console.log(`listening ${server.address().port}`));
