"""The Nuxeo traffic model: key names, Lua scripts, command builders, payloads, queues and the
business→Redis mix (spec: ``nuxeo-redis-traffic.md``; see ``docs/nuxeo-model.md``). No Locust here."""
