// One OpenTelemetry span per call when @opentelemetry/api is installed (an optional peer
// dependency) and a tracer provider is registered when the pit starts: `snakepit.call <tool>`,
// with the pool, tool, worker and outcome. Otherwise a call does no tracing work at all.

/** The slice of the OpenTelemetry API a call's span uses. */
export interface CallSpan {
  setAttribute(key: string, value: string | number): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

export interface CallTracer {
  startSpan(name: string, options: { attributes: Record<string, string> }): CallSpan;
}

/** The span status code for an error (SpanStatusCode.ERROR). */
export const SPAN_ERROR = 2;

/** The tracer if @opentelemetry/api can be imported and has a provider registered, else undefined. */
export async function loadTracer(): Promise<CallTracer | undefined> {
  try {
    const api = await import('@opentelemetry/api');
    // The global provider is a proxy; with nothing registered behind it every span is a no-op.
    const provider = api.trace.getTracerProvider() as { getDelegate?: () => unknown };
    const delegate = provider.getDelegate?.();
    if (delegate && (delegate as object).constructor?.name === 'NoopTracerProvider') return undefined;
    return api.trace.getTracer('snakepit') as unknown as CallTracer;
  } catch {
    return undefined;
  }
}
