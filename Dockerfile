# syntax=docker/dockerfile:1
# meshinject image: the admission webhook (`meshinject serve`, run by the
# Helm chart as UID 65532) and the traffic redirect (`meshinject redirect`,
# run by the injected mesh-init container as root with NET_ADMIN/NET_RAW,
# which the pod's securityContext grants, not this image).
#
#   docker build -t meshinject/meshinject:0.1.0 .

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        libmicrohttpd-dev libgnutls28-dev libjansson-dev libyaml-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY include/ include/
COPY webhook/ webhook/
# `meshinject install` prints these objects: compiled in.
COPY manifests/meshinject.yaml manifests/
# The admission policies' CEL, compiled in (the chart reads the same file).
COPY charts/meshinject/files/policy-validations.yaml charts/meshinject/files/
# CI=1: warnings are errors, as in CI.
RUN make CI=1 BUILD=/out all \
 && strip /out/meshinject \
 && /out/meshinject version

FROM debian:12-slim
# Runtime libraries of the binary, and iptables (iptables-restore,
# ip6tables-restore) for `meshinject redirect`.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmicrohttpd12 libgnutls30 libjansson4 libyaml-0-2 libssl3 \
        iptables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/meshinject /usr/local/bin/meshinject
# The chart mounts the config and serving certificate here.
RUN mkdir -p /etc/meshinject/tls
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/meshinject"]
CMD ["serve", "--config", "/etc/meshinject/config.yaml", \
     "--tls-cert", "/etc/meshinject/tls/tls.crt", "--tls-key", "/etc/meshinject/tls/tls.key"]
