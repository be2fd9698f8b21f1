# syntax=docker/dockerfile:1
# First version (issue 6 hardens it): build a wheel, install it into a venv, copy the venv into a
# slim runtime image that runs as a numeric non-root user with no build tools.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY kruise_py ./kruise_py
RUN pip install --no-cache-dir .

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8080 9443
ENTRYPOINT ["kruise-py"]
CMD ["run", "--webhook-mode=service"]
