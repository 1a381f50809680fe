# plb in a FROM scratch image: nothing but plb, the shared libraries it
# needs, /etc/passwd and /etc/group with a plb user, /var/empty, /tmp.
# The file trees come from `npm run build -- image-root`
# (dist/rootfs-linux-x64/ and dist/rootfs-linux-arm64/):
#
#   npm run build -- image-root
#   docker buildx build --platform linux/amd64,linux/arm64 -t plb .
#
# No HEALTHCHECK (a scratch image has no shell or curl to run a check
# with): an orchestrator probes GET /healthz on the [stats] listener
# (deploy/kubernetes/deployment.yaml).
ARG TARGETARCH=amd64

# COPY makes every file root's; /run is the plb user's (its pid file).
FROM scratch AS rootfs-amd64
COPY dist/rootfs-linux-x64/ /
COPY --chown=65532:65532 dist/rootfs-linux-x64/run/ /run/

FROM scratch AS rootfs-arm64
COPY dist/rootfs-linux-arm64/ /
COPY --chown=65532:65532 dist/rootfs-linux-arm64/run/ /run/

FROM rootfs-${TARGETARCH}
EXPOSE 8080 8081 2525
ENTRYPOINT ["/plb"]
CMD ["--config", "/etc/plb/plb.toml"]
