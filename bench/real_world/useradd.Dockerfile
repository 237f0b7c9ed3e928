# A user made by useradd: /etc/shadow (0640 root:shadow), a home from /etc/skel,
# files owned by the new uid, then USER and WORKDIR in the config.
FROM debian:bookworm
RUN useradd --create-home --uid 1001 --shell /bin/bash app && install -d -o app -g app -m 0750 /data
USER app
WORKDIR /home/app
RUN echo "made by $(id -un)" > note.txt && mkdir -p .cache/x && touch /data/owned
