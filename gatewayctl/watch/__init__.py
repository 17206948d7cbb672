"""`gatewayctl watch`: the catalog's plan against the live systems, every interval and on every catalog
change, as Prometheus metrics; with `--heal` the plan is applied through the same path as `apply`.

Modules, in pipeline order: `source` (the catalog file, reloaded on change, last good one kept), `system`
(what every watched system offers: plan and apply), `kong` and `kuma` (the systems), `loop`
(checks, heals, back-off), `metrics` (the registry), `health` (`/metrics`, `/healthz`, `/readyz`), `lease`
(one active replica on Kubernetes), `push` (`apply --pushgateway`)."""
