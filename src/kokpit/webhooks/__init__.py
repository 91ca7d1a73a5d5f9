"""kokpit's webhooks for the hub API server: admission reviews answered by pure handlers.

`review` decodes `AdmissionReview` v1 and builds its answers, `routes` maps a URL path to a handler
(conversion reviews plug in beside admission ones), `interpreter` validates ResourceInterpreters, and
`registration` describes the `ValidatingWebhookConfiguration` that sends the reviews. The TLS server
that serves them lives with the hub process (`kokpit.hub.webhooks`).
"""
