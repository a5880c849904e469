import { Command, CommanderError } from 'commander'
import { clientCommands } from './client/index.ts'
import { coordinatorCommand } from './coordinator.ts'
import { keygenCommand } from './keygen.ts'
import { scaleCommand } from './scale.ts'
import { testnetCommand } from './testnet.ts'
import { demoCommand, upCommand } from './up/index.ts'
import { workerCommand } from './worker.ts'

const program = new Command('sweep')
  .description('Keep tens of millions of CIDs findable on a Kademlia DHT by sweeping keyspace regions.')
  .showHelpAfterError()
  .exitOverride()
const commands = [upCommand(), scaleCommand(), coordinatorCommand(), workerCommand(), ...clientCommands(), keygenCommand(), testnetCommand(), demoCommand()]
for (const command of commands) program.addCommand(command.exitOverride().showHelpAfterError())

try {
  await program.parseAsync()
} catch (error) {
  // commander has printed usage errors itself; they exit 2, --help and --version exit 0
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2)
  console.error(`sweep: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
