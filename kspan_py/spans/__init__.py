"""From linked occurrences to OpenTelemetry spans: deterministic ids, attributes, ReadableSpans."""
