/** Checks real API answers against the OpenAPI document, and which operations were checked. */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import { OPENAPI } from '../src/api/openapi.ts'

const ajv = new Ajv2020({ strict: false, allErrors: true })
ajv.addSchema(OPENAPI, 'openapi')
const compiled = new Map<string, ValidateFunction>()
const paths = OPENAPI.paths as unknown as Record<string, Record<string, { responses: Record<string, unknown> } | undefined>>

/** `method path-template status` of every answer checked so far. */
export const checked = new Set<string>()

/** Every `method path-template status` the document lists with a JSON body. */
export function documentedAnswers(): string[] {
  const out: string[] = []
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      for (const status of Object.keys(operation!.responses)) out.push(`${method.toUpperCase()} ${path} ${status}`)
    }
  }
  return out
}

/**
 * Throws, naming every mismatch, unless the document lists this status for the operation and
 * body matches its schema.
 */
export function expectDocumented(method: string, template: string, status: number, body: unknown): void {
  const operation = paths[template]?.[method.toLowerCase()]
  if (operation === undefined) throw new Error(`${method} ${template} is not in the OpenAPI document`)
  if (operation.responses[status] === undefined) throw new Error(`${method} ${template} answered ${status}, which the document does not list: ${JSON.stringify(body)}`)
  const pointer = `openapi#/paths/${template.replaceAll('~', '~0').replaceAll('/', '~1')}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`
  let validate = compiled.get(pointer)
  if (validate === undefined) compiled.set(pointer, validate = ajv.compile({ $ref: pointer }))
  if (!validate(body)) {
    throw new Error(`${method} ${template} ${status} does not match the document: ${ajv.errorsText(validate.errors, { separator: '; ' })}\n${JSON.stringify(body).slice(0, 2000)}`)
  }
  checked.add(`${method.toUpperCase()} ${template} ${status}`)
}

/**
 * For answers that are not JSON (the dashboard's page, files and event stream): throws unless the
 * document lists this status with this media type, or with no body when contentType is undefined.
 */
export function expectDocumentedType(method: string, template: string, status: number, contentType: string | undefined): void {
  const operation = paths[template]?.[method.toLowerCase()]
  if (operation === undefined) throw new Error(`${method} ${template} is not in the OpenAPI document`)
  const response = operation.responses[status] as { content?: Record<string, unknown> } | undefined
  if (response === undefined) throw new Error(`${method} ${template} answered ${status}, which the document does not list`)
  const listed = Object.keys(response.content ?? {})
  const type = contentType?.split(';')[0].trim()
  if (type === undefined ? listed.length > 0 : !listed.includes(type)) {
    throw new Error(`${method} ${template} ${status} answered ${type ?? 'no body'}; the document lists ${listed.join(', ') || 'no body'}`)
  }
  checked.add(`${method.toUpperCase()} ${template} ${status}`)
}
