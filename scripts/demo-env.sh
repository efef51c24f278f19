# Sourced by run.sh and run-cluster.sh: the demo's config, provider keys and secrets.
export PRISM_CONFIG_PATH=${PRISM_CONFIG_PATH:-deploy/demo.toml}
export PRISM_PROVIDER_DEMO_OPENAI_API_KEY=${PRISM_PROVIDER_DEMO_OPENAI_API_KEY:-demo}
export PRISM_PROVIDER_DEMO_ANTHROPIC_API_KEY=${PRISM_PROVIDER_DEMO_ANTHROPIC_API_KEY:-demo}
# Development mode: these published secrets would stop a production origin at start.
export PRISM_ENV=development
export PRISM_KEY_PEPPER=${PRISM_KEY_PEPPER:-local-demo-pepper-0123456789}
export PRISM_INGEST_SECRET=${PRISM_INGEST_SECRET:-local-demo-ingest-secret-0123456789}
export PRISM_DASHBOARD_SECRET=${PRISM_DASHBOARD_SECRET:-local-demo-dashboard-secret-0123456789}
export PRISM_ADMIN_TOKEN=${PRISM_ADMIN_TOKEN:-local-demo-admin-token-0123456789}
