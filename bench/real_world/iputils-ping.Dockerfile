# File capabilities: postinst runs setcap cap_net_raw+ep /bin/ping, an xattr
# (security.capability) the layer must carry.
FROM debian:bookworm
RUN apt-get update && apt-get install -y iputils-ping
