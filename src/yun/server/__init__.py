"""`yun server`: one process that supervises the API, the controllers, the agent and the router."""
