"""Where changes come from: capture files now, the live API server later. Sources only produce."""
