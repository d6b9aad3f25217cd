from microcred_notifier.bootstrap import build_app
from microcred_notifier.settings import NotifierSettings
from microcred_shared.entrypoint import serve

if __name__ == "__main__":
    serve(NotifierSettings(), build_app)
