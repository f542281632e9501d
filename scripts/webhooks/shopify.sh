#!/usr/bin/env bash
# Send bizos a Shopify orders/create webhook signed the way Shopify signs it:
# X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the exact body bytes, keyed with the
# workspace's shopify webhook_secret (`bizos demo` prints the demo's).
#   SHOPIFY_SECRET=... scripts/webhooks/shopify.sh        # BIZOS, TENANT optional
set -euo pipefail
BIZOS=${BIZOS:-http://127.0.0.1:8000} TENANT=${TENANT:-demo}
: "${SHOPIFY_SECRET:?set SHOPIFY_SECRET to the Shopify webhook secret of the workspace}"

# The fields bizos reads from Shopify's order JSON (a real one carries many more).
cat > order.json <<'EOF'
{"id": 820982911946154508, "name": "#9001", "email": "jon.buyer@example.com",
 "currency": "USD", "created_at": "2026-03-14T10:21:07-04:00", "cancelled_at": null,
 "customer": {"first_name": "Jon", "last_name": "Buyer", "email": "jon.buyer@example.com"},
 "line_items": [{"id": 1, "sku": "NW-EQ-COLDBREW", "name": "Cold Brew Kit",
                 "quantity": 1, "price": "34.00"}],
 "shipping_lines": [{"price": "6.95"}], "total_price": "40.95"}
EOF
SIG=$(openssl dgst -sha256 -hmac "$SHOPIFY_SECRET" -binary order.json | openssl base64 -A)
curl -sS --fail-with-body -X POST "$BIZOS/webhooks/shopify/$TENANT" \
  -H 'Content-Type: application/json' \
  -H 'X-Shopify-Topic: orders/create' \
  -H "X-Shopify-Hmac-Sha256: $SIG" \
  -H "X-Shopify-Webhook-Id: $(openssl rand -hex 16)" \
  -H 'X-Shopify-Shop-Domain: northwind-coffee.myshopify.com' \
  --data-binary @order.json
echo
