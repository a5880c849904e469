/**
 * Whether the go servers can run here. Files with go tests name them with
 * "[go]" and skip them with this reason when they can't: `.ci/run` fails on
 * any skipped "[go]" test, so CI always runs them.
 */
import { gonetBinary } from '../src/index.ts'

const built = await gonetBinary((m) => console.log(m))
export const goSkipReason: string | null = built.reason ?? null
if (goSkipReason != null) console.warn(`[go] tests skipped: ${goSkipReason}`)
