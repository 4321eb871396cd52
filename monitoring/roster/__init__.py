"""双随机、一公开 (double random, one public) random inspection rosters.

Modules: :mod:`.period` (quarters), :mod:`.rules` (the rules file), :mod:`.directories` (target and
inspector directories, evidence, hashes), :mod:`.draw` (the pure, seeded draw), :mod:`.store` (SQL
tables), :mod:`.records` (running a draw, the append-only record), :mod:`.verify` (replay),
:mod:`.calendar` (working days), :mod:`.publication` (results, deadlines, public CSV/HTML),
:mod:`.schedule` (the calls the Airflow DAG makes).
"""
