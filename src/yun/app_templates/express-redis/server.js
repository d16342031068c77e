// An Express app on Redis: each visit increments a counter; the page says how many there were.
const express = require("express");
const { createClient } = require("redis");

const redis = createClient({ url: process.env.REDIS_URL });
redis.on("error", (err) => console.error("redis:", err.message));

const app = express();
app.get("/health", (req, res) => res.type("text").send("ok\n"));
app.get("/", async (req, res) => {
  const visits = await redis.incr("visits");
  res.type("text").send(`Hello from Express on Redis: visit ${visits}\n`);
});

const port = Number(process.env.PORT || 8080);
const host = process.env.VCAP_APP_HOST || "127.0.0.1";
redis.connect().then(() => {
  const server = app.listen(port, host, () => console.log(`listening on ${host}:${port}`));
  process.on("SIGTERM", () => server.close(() => redis.quit().then(() => process.exit(0))));
});
