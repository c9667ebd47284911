"""Experts: scripted policies (the safe goal-seeking demonstrator) that act through ``BatchEnv``'s public interface."""
