/** `npm run docs:openapi`: writes the API's OpenAPI document to docs/openapi.json. */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { OPENAPI } from './openapi.ts'

export const OPENAPI_FILE = fileURLToPath(new URL('../../../../docs/openapi.json', import.meta.url))

export function openapiText(): string {
  return `${JSON.stringify(OPENAPI, null, 2)}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OPENAPI_FILE, openapiText())
  console.log(`wrote ${OPENAPI_FILE}`)
}
