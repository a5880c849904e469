import { AsyncLocalStorage } from 'node:async_hooks'
import { ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api'

/**
 * The active OTel context follows async calls (awaits, timers, callbacks), so
 * a span started inside `context.with(ctx, fn)` or `tracer.startActiveSpan`
 * finds its parent without passing contexts by hand.
 * (@opentelemetry/context-async-hooks does the same but is not installed.)
 */
export class AsyncLocalContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>()

  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A
  ): ReturnType<F> {
    const call = thisArg === undefined ? fn : (fn.bind(thisArg) as F)
    return this.#storage.run(context, call, ...args)
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target
    const fn = target as unknown as (...args: unknown[]) => unknown
    const run = <R>(call: () => R): R => this.with(context, call)
    return function (this: unknown, ...args: unknown[]) {
      return run(() => fn.apply(this, args))
    } as unknown as T
  }

  enable(): this {
    return this
  }

  disable(): this {
    this.#storage.disable()
    return this
  }
}
