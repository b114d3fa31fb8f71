# A minimal Gregor image: the static binary on scratch, no shell, no libc.
# No base image is pulled: build the binary first, at the repository root,
#
#   CGO_ENABLED=0 go build -o gregor ./cmd/gregor
#
# then `docker build .` (or `docker-compose up --build`).
FROM scratch
COPY gregor /gregor
# The data directory, owned by the unprivileged user the broker runs as; a
# named volume mounted here starts with this ownership.
COPY --chown=65532:65532 deploy/data /var/lib/gregor
USER 65532:65532
VOLUME ["/var/lib/gregor"]
ENV GREGOR_LOG_DIRS=/var/lib/gregor
EXPOSE 9092 9644
ENTRYPOINT ["/gregor"]
CMD ["serve"]
