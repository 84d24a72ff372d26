import time

from django.core.management.base import BaseCommand

from config.demo import seed as seed_demo


class Command(BaseCommand):
    help = "生成演示辖区 / Build a realistic, deterministic demo jurisdiction (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, default=3000)
        parser.add_argument("--password", default="demo-2026", help="password of the demo staff accounts")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, persons, password, **options):
        started = time.perf_counter()
        seed_demo(persons=persons, password=password, seed_value=options["seed"], log=lambda m: self.stdout.write(m))
        self.stdout.write(f"seed_demo finished in {time.perf_counter() - started:.1f}s")
