from microcred_accounting.bootstrap import build_app
from microcred_accounting.settings import AccountingSettings
from microcred_shared.entrypoint import serve

if __name__ == "__main__":
    serve(AccountingSettings(), build_app)
