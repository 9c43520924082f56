"""The application: the `edgeae` command and the work its commands do over the stages."""
