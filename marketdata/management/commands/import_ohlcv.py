"""Import a candle file (CSV in the shared-data layout, JSON or feather): all of it or nothing."""

from django.core.management.base import BaseCommand, CommandError

from marketdata.services.history import candle_import_file
from marketdata.services.importer import CandleFileError


class Command(BaseCommand):
    help = "import_ohlcv FILE [--exchange X --symbol B/Q --timeframe 1m]: upsert candles."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--exchange")
        parser.add_argument("--symbol")
        parser.add_argument("--timeframe")
        parser.add_argument("--no-derive", action="store_true", help="skip 5m..1d derivation")

    def handle(self, *args, **options):
        try:
            report = candle_import_file(
                path=options["file"],
                exchange=options["exchange"],
                symbol=options["symbol"],
                timeframe=options["timeframe"],
                derive=not options["no_derive"],
            )
        except (CandleFileError, FileNotFoundError) as exc:
            raise CommandError(f"rejected, nothing imported: {exc}") from exc
        self.stdout.write(
            f"imported {report.rows} {report.timeframe} candles of "
            f"{report.exchange} {report.symbol}"
        )
        for tf, count in report.derived.items():
            self.stdout.write(f"derived {count} {tf} candles")
        missing = sum(g.missing for g in report.gaps)
        self.stdout.write(f"gaps: {len(report.gaps)} ({missing} missing bars)")
        for gap in report.gaps[:20]:
            self.stdout.write(f"  gap {gap.start_ms}..{gap.end_ms} ({gap.missing} bars)")
