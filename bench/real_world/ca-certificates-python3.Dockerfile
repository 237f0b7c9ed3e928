# The most common line of real Dockerfiles (issue 15: done when it builds and
# differs from BuildKit only in apt/dpkg logs and caches).
FROM debian:bookworm
RUN apt-get update && apt-get install -y ca-certificates python3
