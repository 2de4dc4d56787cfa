# Toxiproxy's server and CLI built from github.com/Shopify/toxiproxy (make toxiproxy), at the
# paths ghcr.io/shopify/toxiproxy has them, as `nobody`.
FROM saga-local/debian:bookworm
COPY toxiproxy /toxiproxy
COPY toxiproxy-cli /toxiproxy-cli
USER nobody
ENTRYPOINT ["/toxiproxy"]
