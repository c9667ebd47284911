"""Safety: ReQueST's learned simulator, queries and reward/cost model, and the PPO-Lagrangian baseline.

The pipeline, each stage a module of pure functions over explicit state (JAX/flax/optax, jitted):

- ``demonstrations``: safe episodes of the hazard-avoiding scripted expert, stored on disk, refused if unsafe;
- ``simulator``: a latent world model trained on the demonstrations only (encoder, action-conditioned dynamics,
  decoders of the next observation and of the world quantities a labeler reads), held-out error, fast rollouts;
- ``acquisition``: queries synthesised in the model by ReQueST's four acquisition functions with the
  plausibility regulariser;
- ``labelers``: the oracle labeling good / unsafe / neutral (and which hazard rule) from decoded quantities and
  the world's hidden truth;
- ``reward_model``: the 4-member ensemble over latent states with one cost head per hazard rule;
- ``mpc``: gradient-shooting model-predictive control against reward minus cost;
- ``request``: the query rounds and the MPC agent acting in a real env (to be evaluated only);
- ``evaluation``: unsafe events per episode and per 1000 steps, per rule, and goal success of any policy on real tasks,
  and shifted starts (the spawn moved to a tile no demonstration stood on);
- ``checkpoints``: orbax checkpoints of the simulator and the ensemble (agents.checkpoint), refusing another shape or kind;
- ``lagrange``: the PPO-Lag multiplier as OmniSafe defines it, for the constrained baseline;
- ``ppo_lag``: the PPO-Lag trainer on the real env (per-rule costs with the rollout, a cost critic, cost GAE, the
  penalised advantage through PPO's ``_policy_advantages`` hook, λ per rollout, training-time unsafe counts).

Imports only ``worlds`` and ``agents`` (dependency direction of the design).
"""
