# syntax=docker/dockerfile:1
# kruise-py operator image: dependencies from the pinned requirements.lock, installed into a venv in
# a build stage; the runtime stage gets only that venv (no pip, no compilers, no source tree) and
# runs as a numeric non-root user, so the chart's runAsNonRoot and readOnlyRootFilesystem hold.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first: this layer is reused while requirements.lock is unchanged.
COPY requirements.lock ./
RUN pip install --no-cache-dir --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY kruise_py ./kruise_py
# --no-deps: everything the package needs came from the lock above.
RUN pip install --no-cache-dir --no-deps . \
    && pip check \
    && python -m pip uninstall --yes pip setuptools wheel

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8080 9443
ENTRYPOINT ["kruise-py"]
CMD ["run", "--webhook-mode=service"]
