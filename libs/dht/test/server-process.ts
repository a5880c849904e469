// One kad-dht server in its own process, for measurements where the sender's
// CPU must not be mixed with the server's. Prints its addresses as one JSON
// line, answers "cpu" on stdin with its process.cpuUsage(), exits on stdin end.
import { createInterface } from 'node:readline'
import { startServer } from './servers.ts'

const server = await startServer()
process.stdout.write(JSON.stringify({ id: server.id, addrs: server.addrs }) + '\n')
const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (line.trim() === 'cpu') process.stdout.write(JSON.stringify(process.cpuUsage()) + '\n')
})
lines.on('close', () => {
  void (async () => {
    await server.node.stop()
    process.exit(0)
  })()
})
