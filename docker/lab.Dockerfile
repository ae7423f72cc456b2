# The mailspec lab's servers for one scenario: the DNS server (resolver 127.0.0.153, registry and the
# scenario's name servers), its fake MTAs, IDENT responders and MTA-STS policy hosts, all on the
# container's own loopback addresses (127.0.0.0/8), on the standard ports 53, 25, 113 and 443; in
# docker/compose.yaml the resolver answers on the container's network address too (--dns-listen).
# Build it from the repository's root:
#   docker build -f docker/lab.Dockerfile -t mailspec-lab .
# docker/compose.yaml runs it, and a runner in its network namespace (the servers are on loopback).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md LICENSE /tmp/mailspec/
COPY mailspec /tmp/mailspec/mailspec

# Not root: uid and gid 65534 (nobody and nogroup, in the base image), with no capability, although
# it binds ports below 1024: compose.yaml sets the container's own net.ipv4.ip_unprivileged_port_start
# to 0 (Docker 20.10 and later do by default; a namespaced sysctl that leaves the host alone).
# /lab-state, theirs to write, is where the lab writes its CA certificate and its announcement
# (lab.json) for the runner; the lab's certificates and keys go to a folder of its own in /tmp.
RUN pip install --no-cache-dir /tmp/mailspec \
    && rm -rf /tmp/mailspec \
    && mkdir /lab-state \
    && chown 65534:65534 /lab-state

USER 65534:65534
WORKDIR /lab-state
# (compose.yaml runs its own healthcheck, this one's command; this one is for a plain docker run)
HEALTHCHECK --interval=2s --timeout=5s --start-period=60s --retries=30 \
    CMD ["python", "-m", "mailspec.testing", "health", "--state-dir=/lab-state"]
ENTRYPOINT ["python", "-m", "mailspec.testing", "serve"]
CMD ["good", "--port", "53", "--smtp-port", "25", "--ident-port", "113", "--https-port", "443", \
     "--state-dir", "/lab-state", "--control", "--serve-forever"]
