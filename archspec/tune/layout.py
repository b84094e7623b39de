"""The files of a search directory (pure Python: reading a search's results imports no TensorFlow).

::

    DIRECTORY/
      .lock                          held by the search (its chief), .lock-ID by each worker
      trials/oracle.json             keras-tuner's oracle; trials/tuner0.json (chief.json...) its tuner's
      trials/trial_N/trial.json      keras-tuner's trial (values, status, score)
      trials/trial_N/archspec.json   archspec's record: params, MACs, memory, budget, timings
      search.json                    the search's objectives, --pick and pruning (read by the table)
      results.csv/.json/.png         the table of every trial, and its plot
      best.yaml, best.keras          the best trial's frozen spec and model
      pareto/TRIAL.yaml              with several objectives: each trial of the Pareto front, frozen
"""

TUNERS = ("random", "bayesian", "grid", "hyperband")
RECORD = "archspec.json"          # per trial, next to keras-tuner's trial.json
PROJECT = "trials"                # keras-tuner's project_name inside the search directory
SETTINGS = "search.json"          # in the search directory: objectives, pick, pruner
FRONT = "pareto"                  # in the search directory: the front, frozen
