import Fastify from 'fastify'

const server = Fastify({ logger: true })

server.get('/', async () => {
  return 'Hello from Fastify, compiled from TypeScript and installed with pnpm\n'
})

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '0.0.0.0'

server.listen({ port, host }).catch((err) => {
  server.log.error(err)
  process.exit(1)
})
