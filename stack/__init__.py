"""The stack's core: the one typed settings object (names, endpoints, knobs), the boto3 session factory
for the target (real AWS or the local AWS), and what every layer says about AWS the same way (resource
names, execution states, error codes).

Everything first-party may import it; it imports nothing first-party (docs/ARCHITECTURE.md).
"""
