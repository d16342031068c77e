const express = require('express')

const app = express()
const port = process.env.PORT || 3000

app.get('/', (req, res) => {
  res.type('text/plain').send('Hello World from Express on Yun!\n')
})

app.listen(port, () => {
  console.log(`express-engines listening on port ${port}`)
})
