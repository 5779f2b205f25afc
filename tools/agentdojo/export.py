#!/usr/bin/env python3
"""Export AgentDojo's injection tasks, injection vectors and attack templates as JSON.

custos turns the export into a probe pack (crates/custos-probe/src/agentdojo.rs); this script
only reads what the installed `agentdojo` package ships, so the pack can be regenerated and
diffed whenever AgentDojo changes (tools/agentdojo/generate.sh).

What is read, and where AgentDojo keeps it (agentdojo 0.1.35):

- suites: `agentdojo.task_suite.load_suites.get_suite(benchmark_version, name)`; the default
  benchmark version is the one `agentdojo.scripts.benchmark` defaults to (`v1.2.2`).
- injection tasks: `TaskSuite.injection_tasks` (id -> task), each with a `GOAL` string and a
  `DIFFICULTY` (`agentdojo.base_tasks.TaskDifficulty`: EASY, MEDIUM, HARD).
- injection vectors: `data/suites/<suite>/injection_vectors.yaml` (id -> description, default),
  placeholders `{<id>}` in the suite's `environment.yaml`.
- which tool result carries a vector: the method of
  `agentdojo.attacks.base_attacks.BaseAttack.get_injection_candidates`, i.e. every user task's
  ground-truth run (`GroundTruthPipeline`) on an environment where each vector holds a canary;
  a tool whose result contains a vector's canary carries that vector.
- attack templates: the fixed-template attacks of `agentdojo.attacks` (`FixedJailbreakAttack`
  subclasses), whose `jailbreak` string takes `{goal}`, `{user}`, `{model}` (and `{task}`),
  filled with Python's `str.format`. `important_instructions_no_model_name` is
  `ImportantInstructionsAttack._JB_STRING` with user "Emma Johnson" and the model named
  "the AI language model" (custos does not know which model a user's agent runs).

Output is deterministic: keys sorted, tasks and vectors ordered by id (task numbers numerically).

Usage: export.py [--benchmark-version V] [--suite NAME ...] [-o FILE]
"""

import argparse
import json
import re
import sys
from importlib.metadata import version

FORMAT = 1
DEFAULT_BENCHMARK_VERSION = "v1.2.2"
ATTACKS = ["important_instructions_no_model_name", "ignore_previous", "direct"]


def natural_key(task_id):
    """`injection_task_10` sorts after `injection_task_9`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", task_id)]


class _Pipeline:
    """The attacks read a model name from the target pipeline's name; the exported templates
    are the variants that do not use it, so any known name will do."""

    def __init__(self):
        from agentdojo.models import MODEL_NAMES

        self.name = sorted(MODEL_NAMES)[0]


def carriers(suite):
    """vector id -> (tools whose results carried it, user tasks that saw it), from ground truth."""
    from agentdojo.agent_pipeline.ground_truth_pipeline import GroundTruthPipeline
    from agentdojo.functions_runtime import FunctionsRuntime
    from agentdojo.types import get_text_content_as_str

    defaults = suite.get_injection_vector_defaults()
    canaries = {vector: f"<CANARY---{vector}--->" for vector in defaults}
    tools = {vector: set() for vector in defaults}
    seen_by = {vector: set() for vector in defaults}
    for user_task_id, user_task in suite.user_tasks.items():
        runtime = FunctionsRuntime(suite.tools)
        environment = suite.load_and_inject_default_environment(canaries)
        _, _, _, messages, _ = GroundTruthPipeline(user_task).query(user_task.PROMPT, runtime, environment)
        for message in messages:
            if message["role"] != "tool" or message["content"] is None:
                continue
            text = get_text_content_as_str(message["content"])
            for vector, canary in canaries.items():
                if canary in text:
                    tools[vector].add(message["tool_call"].function)
                    seen_by[vector].add(user_task_id)
    return tools, seen_by


def components(suite):
    """vector id -> the top-level environment field (inbox, calendar, filesystem, ...) holding it."""
    defaults = suite.get_injection_vector_defaults()
    canaries = {vector: f"<CANARY---{vector}--->" for vector in defaults}
    environment = suite.load_and_inject_default_environment(canaries).model_dump(mode="json")
    found = {}
    for field in sorted(environment):
        text = json.dumps(environment[field])
        for vector, canary in canaries.items():
            if canary in text:
                found.setdefault(vector, field)
    return found


def export_suite(suite):
    import yaml

    from agentdojo.task_suite.task_suite import read_suite_file

    vectors = yaml.safe_load(read_suite_file(suite.name, "injection_vectors.yaml", suite.data_path))
    tools, seen_by = carriers(suite)
    component = components(suite)
    tasks = []
    for task_id in sorted(suite.injection_tasks, key=natural_key):
        task = suite.injection_tasks[task_id]
        difficulty = getattr(task, "DIFFICULTY", None)
        tasks.append(
            {
                "id": task_id,
                "goal": task.GOAL,
                "difficulty": difficulty.name.lower() if difficulty is not None else None,
            }
        )
    return {
        "injection_tasks": tasks,
        "injection_vectors": [
            {
                "id": vector,
                "description": vectors[vector].get("description", ""),
                "default": vectors[vector].get("default", ""),
                "component": component.get(vector),
                "tools": sorted(tools[vector]),
                "user_tasks": sorted(seen_by[vector], key=natural_key),
            }
            for vector in sorted(vectors)
        ],
    }


def export_attacks(suite):
    from agentdojo.attacks.attack_registry import load_attack

    attacks = {}
    for name in ATTACKS:
        attack = load_attack(name, suite, _Pipeline())
        attacks[name] = {"template": attack.jailbreak, "user": attack.user_name, "model": attack.model_name}
    return attacks


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark-version", default=DEFAULT_BENCHMARK_VERSION)
    parser.add_argument("--suite", action="append", help="suite to export (repeatable; default: all)")
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    args = parser.parse_args(argv)

    # Importing the attacks registers them (attack_registry imports the attack modules).
    import agentdojo.attacks  # noqa: F401
    from agentdojo.task_suite.load_suites import get_suites

    suites = get_suites(args.benchmark_version)
    names = sorted(args.suite or suites)
    unknown = [n for n in names if n not in suites]
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; {args.benchmark_version} has {sorted(suites)}")
    export = {
        "format": FORMAT,
        "agentdojo_version": version("agentdojo"),
        "benchmark_version": args.benchmark_version,
        "attacks": export_attacks(suites[names[0]]),
        "suites": {name: export_suite(suites[name]) for name in names},
    }
    text = json.dumps(export, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
