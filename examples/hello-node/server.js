// Yun's hello-world Node.js app: no dependencies, just the http module.
const http = require("http");

const port = Number(process.env.PORT || 8080);
// The platform says where to listen; loopback unless it asks for more (containers do).
const host = process.env.VCAP_APP_HOST || "127.0.0.1";
const instance = process.env.CF_INSTANCE_INDEX || "?";

const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok\n");
    return;
  }
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end(`Hello from Yun! instance ${instance} (node ${process.version})\n`);
});

server.listen(port, host, () => {
  console.log(`hello-node listening on ${host}:${port}`);
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
