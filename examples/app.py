"""The runtime API: serve whatever registry.yaml says prod runs (needs a promoted version:
``promptops promote summarize 2.0.0 --env prod``). Run from the project root."""

from promptops import Registry

reg = Registry.load(".")  # reads registry.yaml; prompt files load on first use
p = reg.get("summarize", env="prod", key="user-42")  # same key, same arm (stable or canary)
print(f"serving {p.name}@{p.version} ({p.arm}) on {p.model}")

document = (
    "The city of Port Alden opened its first public swimming pool in forty years on Saturday. "
    "More than 600 people came on opening day, and entry will be free for children all summer."
)
messages = p.render(document=document)  # sandboxed Jinja, typed inputs, defaults filled in
print(f"{len(messages)} messages, last: {messages[-1]['content'][:60]}...")

reply = p.complete(document=document)  # pinned model and fallbacks; one log record per call
print(reply.text, reply.usage, f"{reply.latency_ms:.0f} ms")
