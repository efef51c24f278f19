"""What a request may do: authentication, policies, project settings, admission, budgets, rate
limits, and the grants that tell the edge."""
