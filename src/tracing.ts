// One OpenTelemetry span per call when @opentelemetry/api is installed (an optional peer
// dependency): `snakepit.call <tool>`, with the pool, tool, worker and outcome. Without the
// package nothing is loaded and a call does no tracing work at all; with it but no SDK
// registered, the API's own no-op tracer makes the spans cost next to nothing.

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

/** The tracer if @opentelemetry/api can be imported, else undefined. */
export async function loadTracer(): Promise<CallTracer | undefined> {
  try {
    const api = await import('@opentelemetry/api');
    return api.trace.getTracer('snakepit') as unknown as CallTracer;
  } catch {
    return undefined;
  }
}
