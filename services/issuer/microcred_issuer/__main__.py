from microcred_issuer.bootstrap import build_app
from microcred_issuer.settings import IssuerSettings
from microcred_shared.entrypoint import serve

if __name__ == "__main__":
    serve(IssuerSettings(), build_app)
