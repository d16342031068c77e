const path = require('path');
const Koa = require('koa');
const serve = require('koa-static');

const app = new Koa();

app.use(serve(path.join(__dirname, 'public')));

app.use(async (ctx) => {
  ctx.type = 'text/html';
  ctx.body =
    '<!doctype html><link rel="stylesheet" href="/site.css">' +
    '<h1>Hello from Koa, installed with yarn</h1>\n';
});

const port = process.env.PORT || 3000;
app.listen(port, () => console.log(`yarn-app listening on port ${port}`));
