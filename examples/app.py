"""The runtime API: serve whatever registry.yaml says prod runs (needs a promoted version:
``promptops promote summarize 2.0.0 --env prod``). Run from the project root."""

from promptops import Registry

reg = Registry.load(".")  # reads registry.yaml; prompt files load on first use
p = reg.get("summarize", env="prod", key="user-42")  # same key, same arm (stable or canary)
print(f"serving {p.name}@{p.version} ({p.arm}) on {p.model}")

document = "Fire crews spent the night fighting a blaze at a furniture warehouse in Lindale."
for message in p.render(document=document):  # sandboxed Jinja, typed inputs, defaults filled
    print(f"{message['role']}: {message['content'][:80]}")

reply = p.complete(document=document)  # pinned model + fallbacks; logs one record per call
print(reply.text, reply.usage, f"{reply.latency_ms:.0f} ms")
